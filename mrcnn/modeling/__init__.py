"""Network stages: backbone taps -> FPN -> RPN -> proposals -> ROIAlign -> heads -> detections;
the training graph's targets and losses."""
