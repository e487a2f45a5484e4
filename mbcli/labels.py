"""Action label vocabularies, below both inference and training: the Human3.6M actions and their sentences, the
NTU RGB+D 60/120 class names, the CMU trial descriptions (cmu_index.tsv), and ``resolve_labels`` (a --labels value
-> the label list).

Human3.6M: H36M_ACTIONS are the dataset's 15 action tags (CamelCase, as in its file names); ACTION_SENTENCES turns
each into a short sentence for the text encoder. NTU: NTU60_CLASSES / NTU120_CLASSES are the official class names
(index = 0-based label, action A001 -> 0; "hush (quite)" of the official list is written "hush (quiet)"), also
usable as open-vocabulary labels (LABEL_SETS). CMU: ``read_cmu_index`` reads a trial -> description table (a header
line, then ``trial<TAB>description`` per line); ZERO_SHOT_HOLDOUT names the CMU subjects whose descriptions the action
and ablation recipes leave out of training (the zero-shot test of ``mbcli eval --task zeroshot``).

numpy-free and torch-free: importing this module costs nothing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from mbcli.errors import ConfigError

# The 15 Human3.6M actions as short sentences for the text encoder (the dataset's names are CamelCase tags).
H36M_ACTIONS: tuple[str, ...] = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases",
                                 "Sitting", "SittingDown", "Smoking", "TakingPhoto", "Waiting", "Walking",
                                 "WalkingDog", "WalkTogether")
ACTION_SENTENCES: dict[str, str] = {
    "Directions": "giving directions", "Discussion": "having a discussion", "Eating": "eating",
    "Greeting": "greeting someone", "Phoning": "talking on the phone", "Posing": "posing",
    "Purchases": "making a purchase", "Sitting": "sitting on a chair", "SittingDown": "sitting down on the floor",
    "Smoking": "smoking", "TakingPhoto": "taking a photo", "Waiting": "waiting", "Walking": "walking",
    "WalkingDog": "walking a dog", "WalkTogether": "walking together",
}

NTU60_CLASSES: tuple[str, ...] = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
)
NTU120_CLASSES: tuple[str, ...] = NTU60_CLASSES + (
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quiet)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects", "shake fist",
    "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)
LABEL_SETS: dict[str, tuple[str, ...]] = {"ntu60": NTU60_CLASSES, "ntu120": NTU120_CLASSES}


def resolve_labels(spec: str | None) -> list[str] | None:
    """None -> None (the model's classes); "h36m" -> the 15 action sentences in H36M_ACTIONS order; "ntu60" /
    "ntu120" -> that class list (case and surrounding spaces ignored); else a comma-separated list (empty items
    dropped; ConfigError when nothing is left)."""
    if spec is None:
        return None
    key = spec.strip().lower()
    if key == "h36m":
        return [ACTION_SENTENCES[a] for a in H36M_ACTIONS]
    if key in LABEL_SETS:
        return list(LABEL_SETS[key])
    labels = [t.strip() for t in spec.split(",") if t.strip()]
    if not labels:
        raise ConfigError("--labels is empty: give a comma-separated list or one of h36m, ntu60, ntu120")
    return labels


ZERO_SHOT_HOLDOUT: tuple[str, ...] = ("08", "13")  # CMU subjects held out of training (recipes' cmu_holdout)


@lru_cache(maxsize=4)
def read_cmu_index(path: Path) -> dict[str, str]:
    """CMU trial -> description ("07_01" -> "walk") from a cmu_index.tsv: the first line is a header, then one
    ``trial<TAB>description`` per line (surrounding spaces stripped; lines with fewer than two columns skipped).
    Cached per path: pass a resolved one."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 2:
            out[cols[0].strip()] = cols[1].strip()
    return out
