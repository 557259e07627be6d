"""Answers' style features (ratings/style_features.py), stored with the answer when its text is: what the
style-controlled board holds constant."""

from ratings.style_features import answer_style_features


def answer_style_fields(text: str) -> dict[str, int]:
    """The Answer fields holding the text's style: style_length, style_headers, style_lists, style_bold."""
    return {f"style_{name}": value for name, value in answer_style_features(text)._asdict().items()}
