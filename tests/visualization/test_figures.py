import matplotlib.pyplot as plt

from vras_keras.visualization.figures import figure_png


def test_figure_png_is_a_png_and_closes_the_figure():
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    data = figure_png(fig)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 500
    assert not plt.fignum_exists(fig.number)
