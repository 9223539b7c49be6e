"""Assignment-neutral evidence found in a graded notebook: figures and panels, image grids, dataset
images, stated numbers, architectures, splits, classifiers in the kernel, printed output."""
