"""Architecture analysis (shapes, parameters, receptive field, FLOPs) and loss landscapes."""
from vras_keras.analysis.summary import ArchitectureSummary, LayerRow, summary
