"""Attribution methods, one module each with one ``explain()``, and the baselines they share.

Every method is ``explain(model, image, *, target=None, <options>) -> Explanation`` with
    model: the LoadedModel to explain (never modified; shared by all requests).
    image: the normalised image (1, 3, h, w) on the model's device.
    target: what to explain; None = the top-1 class (classifiers) or the first output (regression).
and keyword-only options with defaults (the registry's ``Method.defaults``).
"""
