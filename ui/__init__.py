"""The Space's Gradio layer: one module per tab, shared components, ZeroGPU wrappers, output files, queue glue."""
