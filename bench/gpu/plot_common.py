"""What the bench/gpu/plot_*.py scripts share: writing a results folder's figure and summary.json."""
import json
import os


def save(fig, root, png, summary, title=None, dpi=100):
    """Writes fig (titled, when a title is given) as root/png and summary as root/summary.json; prints the summary."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.path.join(root, png), dpi=dpi)
    with open(os.path.join(root, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))
