"""Host-side data: the Dataset API, image decoding and resizing, masks, numpy boxes, augmentation,
the batch generator."""
