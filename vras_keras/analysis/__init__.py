"""Architecture analysis (shapes, parameters, receptive field, FLOPs) and loss landscapes."""
