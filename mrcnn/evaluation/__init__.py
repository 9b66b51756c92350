"""Scoring detections: matterport's compute_ap family and COCO evaluation."""
