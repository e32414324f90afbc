"""Mini DALL-E (chapter 7b): image tokens (chapter 3's tokenizer) after caption tokens, one GPT-2 over both, sampled
with top-k / top-p / temperature, classifier-free guidance and CLIP reranking."""

from t2ilib.dalle.model import MiniDalle
from t2ilib.dalle.sampling import DALLE_SAMPLING, generate, guided_log_probs, sample_codes
from t2ilib.dalle.stream import StreamPositions

__all__ = ["DALLE_SAMPLING", "MiniDalle", "StreamPositions", "generate", "guided_log_probs", "sample_codes"]
