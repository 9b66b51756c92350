"""Host-side inference around the graph: molding inputs, unmolding detections, flip test-time augmentation."""
