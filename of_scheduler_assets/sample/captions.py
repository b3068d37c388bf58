"""Synthetic caption texts with the surface features of real captions (10-ingestion §13 "text")."""

from __future__ import annotations

import numpy as np

from of_scheduler_assets.identity import caption_norm

from .tos import raw_hits

EMOJI = [
    "💕",
    "😘",
    "🔥",
    "💋",
    "😈",
    "🥵",
    "💦",
    "📸",
    "🎬",
    "🍿",
    "🌊",
    "☕",
    "💖",
    "😍",
    "🙈",
    "👀",
    "🍑",
    "🍒",
    "✨",
    "💜",
    "😏",
    "🤤",
    "🎁",
    "🛁",
    "🌙",
    "😇",
    "💌",
    "🥂",
    "🍓",
    "🌸",
    "💗",
    "😜",
    "🤭",
    "🫦",
    "🩷",
]
ZWJ_VS16 = ["❤️", "❤️‍🔥", "👩‍❤️‍👨", "🏳️‍🌈", "☺️", "♥️", "👁️", "🙋‍♀️", "🤷‍♀️", "💁‍♀️"]
OPEN_PPV = [
    "New set just dropped",
    "Movie night bundle",
    "You asked for it",
    "Finally filmed it",
    "Surprise for you",
    "Brand new video",
    "Exclusive drop",
    "Behind the scenes",
    "Shower time",
    "Lingerie try on haul",
    "My naughtiest video yet",
    "Hot tub session",
    "Bedroom cam",
    "Late night solo",
    "Mirror selfies",
    "Oil and heels",
    "First time on camera",
    "Vacation tape",
    "Red lace set",
    "Gym session gone wrong",
]
BODY_PPV = [
    "unlock to see the whole shoot",
    "3 videos for one price, tonight only!",
    "you won’t believe the ending",
    "I couldn’t stop smiling filming this",
    "every angle you begged for",
    "no censoring at all",
    "it’s the longest one I’ve made",
    "this one is just for my favourites",
    "full length, full view",
    "I was so nervous but so worth it",
    "open it before I change my mind",
    "the preview doesn’t do it justice",
    "made this thinking of you",
    "tell me which part is your favourite",
    "it gets so much better at the end",
    "dripping in oil the whole time",
    "slow and teasing, the way you like it",
    "don’t keep me waiting",
    "rated spicy on every level",
    "a little gift in your inbox",
    "it’s way too hot to post on my wall",
    "only a few of you will see this",
    "taken in a hotel room with the curtains open",
    "wearing nothing but your favourite heels",
    "I filmed it twice because the first was too shy",
]
OPEN_BUMP = [
    "Good morning!",
    "Hey you",
    "Did you miss me?",
    "Guess what",
    "Hi baby",
    "Thinking about you",
    "Rise and shine",
    "Late night thoughts",
    "Quick question",
    "Happy weekend",
    "Can’t sleep",
    "Just woke up",
    "Lunch break",
    "Bored at home",
    "Feeling cute today",
    "Hello handsome",
]
BODY_BUMP = [
    "who wants to start the day with me?",
    "check your inbox & tell me what you think",
    "what are you up to right now?",
    "I’m in such a good mood today",
    "reply and I’ll send you something",
    "how was your day?",
    "I just got out of the shower…",
    "come talk to me",
    "I read every reply",
    "are you still awake?",
    "let me know if you want a surprise",
    "I’m in bed and bored",
    "describe your perfect date in 3 words",
    "you always make me smile",
    "what should I wear tonight?",
    "tell me a secret and I’ll tell you one",
    "drop an emoji if you’re here",
    "let’s chat for a bit",
    "I’m wearing something new, want to guess?",
    "coffee first, then you",
    "say hi, I’m lonely",
    "rate my outfit from 1 to 100",
    "can I ask you something personal?",
    "I miss our chats <3",
]
RENEW = [
    "Turn your renew on babe",
    "Renew on = special surprise in your inbox",
    "Keep your renew on for more",
    "Your renewal is coming up",
    "Switch renew on and I’ll send you a thank-you video",
    "Renew on fans get my private stories first",
]
TIP = [
    "Send a tip and I’ll reply with a selfie",
    "Tip me $5 if you want a voice note",
    "tip for a special request",
    "tip to unlock my wish list game",
    "$10 tip gets you a custom pic",
    "Send a tip if you liked my last post",
    "tip and get a surprise tonight",
    "tip me if you want to choose my outfit",
]
LINK = [
    "Follow my other page",
    "My free page is live",
    "Come see my second account",
    "New page, go follow",
    "Exclusive drops over here",
]
PREFIX = ["PSA:", "Tonight:", "Reminder:", "Update:", "Sale:", "Today:"]
FANCY_BASES = {
    "script": (0x1D49C, 0x1D4B6),
    "bold": (0x1D400, 0x1D41A),
    "sansbold": (0x1D5D4, 0x1D5EE),
    "italic": (0x1D434, 0x1D44E),
}
_SCRIPT_HOLES = {
    "B": "ℬ",
    "E": "ℰ",
    "F": "ℱ",
    "H": "ℋ",
    "I": "ℐ",
    "L": "ℒ",
    "M": "ℳ",
    "R": "ℛ",
    "e": "ℯ",
    "g": "ℊ",
    "o": "ℴ",
}


def fancy(word: str, style: str) -> str:
    up, low = FANCY_BASES[style]
    out = []
    for ch in word:
        if style == "script" and ch in _SCRIPT_HOLES:
            out.append(_SCRIPT_HOLES[ch])
        elif style == "italic" and ch == "h":
            out.append("ℎ")
        elif "A" <= ch <= "Z":
            out.append(chr(up + ord(ch) - 65))
        elif "a" <= ch <= "z":
            out.append(chr(low + ord(ch) - 97))
        else:
            out.append(ch)
    return "".join(out)


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def make_caption(rng: np.random.Generator, category: str, serial: int, link_names: list[str]) -> str:
    """One caption with newlines (the report form); the bank form is derived by ``single_line``."""
    if category == "ppv":
        head, bodies, n_body = _pick(rng, OPEN_PPV), BODY_PPV, int(rng.integers(1, 5))
    elif category == "bump":
        head, bodies, n_body = _pick(rng, OPEN_BUMP), BODY_BUMP, int(rng.integers(1, 4))
    elif category == "renew":
        head, bodies, n_body = _pick(rng, RENEW), BODY_BUMP, int(rng.integers(0, 2))
    elif category == "tip":
        head, bodies, n_body = _pick(rng, TIP), BODY_BUMP, int(rng.integers(0, 2))
    else:
        head, bodies, n_body = _pick(rng, LINK), BODY_BUMP, int(rng.integers(0, 2))
    if rng.random() < 0.23:
        words = head.split(" ")
        j = int(rng.integers(len(words)))
        words[j] = fancy(words[j], _pick(rng, list(FANCY_BASES)))
        head = " ".join(words)
    parts = [head + " " + _pick(rng, EMOJI)]
    idx = rng.permutation(len(bodies))[:n_body]
    for i in idx:
        b = bodies[int(i)]
        if rng.random() < 0.55:
            b = b + "…"
        if rng.random() < 0.5:
            b = b + " " + _pick(rng, EMOJI)
        parts.append(b)
    if category == "link_drop":
        parts.append("https://onlyfans.com/" + _pick(rng, link_names))
    if rng.random() < 0.10:
        parts.append(_pick(rng, ZWJ_VS16))
    if rng.random() < 0.22:
        parts.append("you &amp; me " + _pick(rng, EMOJI))
    if category == "ppv" and rng.random() < 0.08:
        parts.append(f"only ${int(rng.integers(20, 60))} today")
    # a serial tag keeps every text distinct without looking artificial
    parts.append(
        _pick(rng, ["xo", "xoxo", "mwah", "kisses", "love you", "yours", "see you soon", "bye for now"])
        + " #"
        + _code(serial)
    )
    r = rng.random()
    if r < 0.41:
        seps = ["\n\n" if rng.random() < 0.4 else "\n" for _ in parts[1:]]
    else:
        seps = [" " for _ in parts[1:]]
    text = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=True))
    while len(text) < 34:
        text += " " + _pick(rng, EMOJI) + " " + _pick(rng, bodies)
    if rng.random() < 0.02:
        while len(text) < 400:
            text += "\n" + bodies[int(rng.integers(len(bodies)))]
    text = text[:751]
    if rng.random() < 0.04:
        text = _pick(rng, PREFIX) + " " + text
    if rng.random() < 0.006:
        text = text.replace(" ", "\u00a0", 1)
    if rng.random() < 0.01:
        text = " " + text if rng.random() < 0.5 else text + " "
    return text


def _code(n: int) -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz"
    out = ""
    n += 23 * 23
    while n:
        n, r = divmod(n, 23)
        out = alphabet[r] + out
    return out


def single_line(text: str) -> str:
    return " ".join(text.split("\n")).replace("  ", " ") if "\n" in text else text


def generate_captions(rng: np.random.Generator, counts: dict[str, int], link_names: list[str]):
    """Returns list of (category, text) with distinct caption_norm and no TOS hit."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    serial = 0
    for cat in ("ppv", "bump", "renew", "tip", "link_drop"):
        made = 0
        while made < counts.get(cat, 0):
            serial += 1
            if raw_hits(_code(serial)):
                continue  # the vocabulary is TOS-clean by construction; only the serial tag could trip a rule
            t = make_caption(rng, cat, serial, link_names)
            n = caption_norm(t)
            if n in seen:
                continue
            seen.add(n)
            out.append((cat, t))
            made += 1
    return out


TOS_TEXTS = {
    "A1": [
        "My cousin would never believe this video 😳 unlock it",
        "Sister night in, two of us on cam 💋",
        "Roleplay: the brother’s best friend comes over 🔥",
        "Aunt and me by the pool 👀 full set inside",
    ],
    "A2": [
        "Don’t tell my dad about this one 🙈",
        "My mom thinks I’m studying 😇 unlock to see",
        "Father knows best… or not 😈 new video",
    ],
    "A1A2": ["Mom and son roleplay tonight 😈 unlock now"],
    "A3": ["Pretend I’m 17 yo again 🎀 private video", "Dressed like I was 16 and so old fashioned 💋"],
    "B3": ["Kidnap fantasy roleplay, full video 🔒", "Blackmail roleplay: you found my secret 😈"],
    "D2": ["Scat play request finally filmed"],
}
ALLOWLIST_CLEARED = ["My step mom caught me filming 😳 unlock", "Stepmom fantasy with her stepson, full video 🔥"]
ALLOWLIST_STAYS = ["My 17 yo step mom fantasy 😈 unlock"]
