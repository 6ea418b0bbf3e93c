"""Pictures of runs and data: curves, confusion matrices, image grids."""
