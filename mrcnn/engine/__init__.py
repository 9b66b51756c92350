"""Running the model: the fit loop's model, device strategies, atomic output files."""
