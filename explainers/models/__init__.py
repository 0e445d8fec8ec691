"""Where models come from and how they see an image: sources, loading, tasks, preprocessing, prediction."""
