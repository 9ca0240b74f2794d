"""Offline language detection for Portuguese and English: ``pt``, ``en``, ``other`` or ``unknown``.

A small frequent-word model, chosen over packaged detectors after measuring (docs/text.md): ``lingua`` ships
100 MB of profiles, ``langdetect`` 2.4 MB and is random unless seeded and slow on short texts, and both
answer *some* language for a one-word review where the honest answer is "unknown".

Each folded token that is one of a language's frequent function words (articles, prepositions, pronouns,
auxiliaries, a few very common review/support words) votes for that language; a word shared by several
languages splits its vote. Letters only one language uses (``ã``, ``õ`` for Portuguese; ``ñ`` for Spanish;
``ß`` for German) add a vote. The language with most votes wins when it has at least ``MIN_VOTES`` and
leads the runner-up; Spanish, French, German and Italian winners are reported as ``other``; no votes or a tie
is ``unknown``. Texts whose language is unknown get the workspace's default language where one is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sinergia.text.normalize import tokens

LANGUAGES = ("pt", "en", "other", "unknown")
MIN_VOTES = 1.0

# Folded (lower-case, no accents). Function words, then (after "|") a few very frequent review / support words.
_FREQUENT: dict[str, str] = {
    "pt": """
        o a os as um uma uns umas de do da dos das no na nos nas em ao aos pelo pela pelos pelas por para pra
        com sem que e mas ou se nao sim muito muita muitos muitas mais menos ja ainda tambem so porem pois porque
        eu voce voces ele ela eles elas nos meu minha meus minhas seu sua seus suas dele dela isso isto esse essa
        este esta estes estas aquele aquela foi fui era sao estou estava esta estao tem tinha tenho ter ser sera
        seria vai vou fiz fez pode posso nunca quando onde como qual quais ate apos entao aqui la
        | bem mal otimo otima bom boa boas bons produto produtos entrega entregue chegou chegaram recebi prazo recomendo
        loja compra comprei veio pedido atendimento obrigado obrigada gostei qualidade antes dentro
    """,
    "en": """
        the a an of to in on at for from by with without and but or if not no yes very more less already still
        also only because i you he she it we they my your his her its our their this that these those is are
        was were be been being am have has had do does did will would can could should may might must there
        here what which who when where how all any some just about into out up down than then too so get got
        don't can't i'm it's | please thanks thank product delivery arrived received order ordered service help
        account support good great bad love hate again why
    """,
    "es": """
        el la los las un una unos unas del al y pero porque muy mas ya tambien solo yo usted ustedes el ella
        ellos ellas nosotros mi mis su sus este esta estos estas ese esa eso es son fue era estoy esta estan
        tengo tiene hay hace puede cuando donde como cual hasta despues entonces aqui alli bien gracias pedido
        llego recibi producto compre nunca sin con para por que lo le les se me te nos
    """,
    "fr": """
        le la les un une des du de au aux et mais ou donc car ne pas plus tres deja encore aussi seulement je
        tu il elle nous vous ils elles mon ma mes ton ta tes son sa ses notre votre leur leurs ce cet cette ces
        est sont etait suis ai avez avons ont fait peut quand ou comment pourquoi merci produit commande recu
        livraison avec sans pour par qui que dans sur
    """,
    "de": """
        der die das den dem des ein eine einen einem einer und aber oder wenn nicht kein keine sehr mehr schon
        noch auch nur ich du er sie es wir ihr mein meine dein sein ihre unser ist sind war waren bin habe hat
        haben wird werden kann konnte wann wo wie warum danke produkt bestellung lieferung mit ohne fur von zu
        auf bei nach aus
    """,
    "it": """
        il lo la i gli le un una uno del della dei delle al alla e ma o se non si molto piu gia ancora anche solo
        io tu lui lei noi voi loro mio mia miei tuo suo sua questo questa quello quella sono era ero ho hai ha
        abbiamo hanno fatto puo quando dove come perche grazie prodotto ordine consegna arrivato con senza per
        da su che nel nella
    """,
}
_LETTERS = {"ã": "pt", "õ": "pt", "ñ": "es", "¿": "es", "¡": "es", "ß": "de"}


@lru_cache(maxsize=1)
def _votes_per_word() -> dict[str, dict[str, float]]:
    owners: dict[str, set[str]] = {}
    for language, words in _FREQUENT.items():
        for word in words.replace("|", " ").split():
            owners.setdefault(word, set()).add(language)
    return {word: {lang: 1.0 / len(langs) for lang in langs} for word, langs in owners.items()}


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Portuguese and English function words (folded): what topic models leave out."""
    return frozenset(w for lang in ("pt", "en") for w in _FREQUENT[lang].split("|")[0].split())


def language_votes(text: str) -> dict[str, float]:
    """The votes each language gets for ``text`` (see the module docstring)."""
    table = _votes_per_word()
    votes: dict[str, float] = {}
    for token in tokens(text):
        for lang, weight in table.get(token, {}).items():
            votes[lang] = votes.get(lang, 0.0) + weight
    lowered = text.lower()
    for letter, lang in _LETTERS.items():
        if letter in lowered:
            votes[lang] = votes.get(lang, 0.0) + 1.0
    return votes


def detect_language(text: str | None) -> str:
    """``pt``, ``en``, ``other`` (another language) or ``unknown`` (too little evidence, e.g. one word)."""
    if not text or not text.strip():
        return "unknown"
    votes = language_votes(text)
    if not votes:
        return "unknown"
    ranked = sorted(votes.items(), key=lambda kv: kv[1], reverse=True)
    best, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if top < MIN_VOTES or top <= runner_up:
        return "unknown"
    return best if best in ("pt", "en") else "other"


def detect_languages(texts: Iterable[str | None]) -> list[str]:
    """:func:`detect_language` of each text."""
    return [detect_language(t) for t in texts]
