"""Attribution methods, one module each with one ``explain()``, and the baselines they share."""
