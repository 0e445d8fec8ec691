"""Similar cases: a model's reference gallery and the k nearest references to an image (example-based explanation).

Where things are: build.build_gallery (labelled images from sources -> MODEL_DIR/gallery, once, by the owner; its
files are described in layout); store.load_gallery (verified and indexed, once per model and gallery);
search.similar (-> SimilarCases: .to_dict() for the API, .summary() for receipts, .sentence for the report);
sentence.report_sentence (light: no torch, numpy or faiss, for trust.report).
"""
