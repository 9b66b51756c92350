"""Weights files: the h5 reader/writer and matterport's layout."""
