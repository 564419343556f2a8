"""BM25 product search with bm25s, built once per catalogue and cached on disk.

The original searches a pyserini (Lucene) index of each product's title, description, first
bullet point and options, and shows the top 50 hits. We rank the same text with bm25s set up
like that index: Lucene's BM25 formula (``method="lucene"``) with pyserini's default k1=0.9,
b=0.4; Lucene's 33 English stop words; a possessive "'s" dropped; ties broken by catalogue
order, as Lucene breaks them by document id; only documents that match a query term count as
results ("Total results" may be under 50). Rankings can still differ from the original's:

- tokens: we split on ``\\w+`` runs joined by '.' or "'" ("3.4", "don't"), an approximation of
  Lucene's Unicode word-break tokenizer (which e.g. also keeps "1,000" whole);
- stemming: ``stemmer="english"`` is Snowball English (PyStemmer), Lucene's analyzer uses the
  older Porter stemmer (they differ on some words); ``"none"`` does not stem at all;
- Lucene stores document lengths lossily (one byte per document), so near-ties can order
  differently; bm25s keeps exact lengths and float32 scores.

The original's debugging keywords ('<r>', '<a>', '<c>', '<q>' as the first word) are ordinary
text here.

An index is built once and kept in ``$HARNESS_CACHE`` (default ``~/.cache/harness``) under
``webshop-bm25/<key>``, the key hashing the catalogue's fingerprint (the bytes of the product
file, or the mini catalogue's data) with the settings above; later runs memory-map it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable

from harness.cache import cache_dir

log = logging.getLogger(__name__)

SEARCH_RETURN_N = 50
K1, B = 0.9, 0.4  # pyserini's LuceneSearcher defaults
INDEX_VERSION = 1  # bump when the analyzer or the stored layout changes
LUCENE_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split())
_TOKEN = re.compile(r"\w+(?:['.]\w+)*")


class Analyzer:
    """Text -> index terms: lower-case, word tokens, possessives and stop words dropped, optional stemming."""

    def __init__(self, stemmer: str = "none"):
        self._stem = None
        if stemmer == "english":
            import Stemmer  # PyStemmer; its stemmer objects are not thread-safe

            self._stem = Stemmer.Stemmer("english").stemWords
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[str]:
        tokens = [t[:-2] if t.endswith("'s") else t for t in _TOKEN.findall(text.lower())]
        tokens = [t for t in tokens if t and t not in LUCENE_STOP_WORDS]
        if self._stem is None:
            return tokens
        with self._lock:
            return self._stem(tokens)


class SearchEngine:
    """Top-50 BM25 search over a fixed list of documents (one per product, in catalogue order)."""

    def __init__(self, bm25, analyzer: Analyzer):
        self._bm25 = bm25
        self.analyzer = analyzer

    @classmethod
    def open(cls, docs: Iterable[str], count: int, fingerprint: str, stemmer: str) -> "SearchEngine":
        """Load the cached index of these ``count`` documents, or build and cache it.

        ``docs`` is only consumed when the index has to be built; ``fingerprint`` must change
        whenever the documents do (it keys the cache, with the analyzer settings).
        """
        import bm25s

        analyzer = Analyzer(stemmer)
        key = hashlib.sha256(json.dumps([fingerprint, count, stemmer, K1, B, INDEX_VERSION]).encode()).hexdigest()
        folder = cache_dir() / "webshop-bm25" / key[:24]
        if folder.is_dir():
            try:  # memory-mapped: processes searching the same catalogue share the pages
                bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
                if bm25.scores["num_docs"] == count:
                    return cls(bm25, analyzer)
                log.warning("search index cache %s does not fit the catalogue; rebuilding it", folder)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("unreadable search index cache %s (%s); rebuilding it", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
        t0 = time.monotonic()
        bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        bm25.index([analyzer(d) for d in docs], show_progress=False)
        log.info("built the BM25 index of %d products in %.2fs", count, time.monotonic() - t0)
        _save_atomically(bm25, folder)
        return cls(bm25, analyzer)

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[int]:
        """Indices of the best ``k`` matching documents, best first, ties in document order."""
        import numpy as np

        vocab = self._bm25.vocab_dict
        terms = [t for t in self.analyzer(keywords) if t in vocab]  # repeated terms count twice, as in Lucene
        if not terms:
            return []
        scores = self._bm25.get_scores(terms)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            kth_best = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth_best]  # keep every tie at the cut, then order by (score, doc)
        order = np.lexsort((hits, -scores[hits]))
        return hits[order][:k].tolist()


def _save_atomically(bm25, folder: Path) -> None:
    """Write next to the final place, then rename: concurrent builders never see a half-written index."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".building-"))
    try:
        bm25.save(str(tmp), show_progress=False)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process saved the same index first: keep theirs
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
