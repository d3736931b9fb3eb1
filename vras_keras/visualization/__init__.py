"""Drawing helpers (overlays, boxes, skeletons, matches) used by the demo, benchmarks and `vras predict`."""
from vras_keras.visualization import overlays, pose
