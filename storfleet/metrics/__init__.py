"""Performance metrics: the metric vocabulary, capabilities, collection and exporters.

Driver output is checked against Delfin's vocabulary (``storfleet.metrics.vocabulary``)
before anything is stored or exported, so a misspelt metric or a wrong unit is reported
where it is made, not discovered on a dashboard.
"""
