"""Whether to believe a map: scorecard (curves, sanity, agreement), receipts and replay, plain-language reports."""
