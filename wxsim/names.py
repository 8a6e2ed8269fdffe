"""Realistic, deterministic Chinese nicknames and avatars for simulated fans.

Nicknames are derived from ``(seed, index)`` on demand so that a million fans
cost no stored strings. A share of them carry emoji and a few are very long,
because real WeChat nicknames do and the platform must render them.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import subprocess

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史黎贺顾毛郝龚邵万钱覃武戴孔"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彩春菊兰凤洁"
    "梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦"
    "黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪"
    "澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
    "浩宇轩然子涵梓睿一诺博文"
)
WORDS = [
    "快乐每一天", "追风少年", "岁月静好", "小确幸", "阳光总在风雨后", "慢慢来", "知足常乐",
    "平安喜乐", "向日葵", "海阔天空", "风吹麦浪", "一叶知秋", "半夏", "南风知我意", "山川湖海",
    "柠檬不萌", "奶茶三分甜", "晴天", "浅笑安然", "初心不改", "宝妈", "老张", "小鱼儿", "旺仔",
]
EMOJI = ["🌸", "🍀", "🌈", "😊", "🐱", "🌙", "⭐", "🍓", "🔥", "💪", "🎈", "🦋", "🌻", "🍵", "🐼"]
LATIN = ["Amy", "Leo", "Coco", "Jack", "Lily", "Kevin", "Cindy", "Tony", "Vicky", "Sam"]
PROVINCES = [
    ("广东", "广州"), ("广东", "深圳"), ("浙江", "杭州"), ("北京", "朝阳"), ("上海", "浦东新区"),
    ("四川", "成都"), ("江苏", "南京"), ("湖北", "武汉"), ("山东", "青岛"), ("福建", "厦门"),
]


def _rng(seed: str, index: int) -> random.Random:
    h = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "big"))


def nickname(seed: str, index: int) -> str:
    """A deterministic nickname; ~20% with emoji, ~3% very long (> 30 chars)."""
    r = _rng(seed, index)
    style = r.random()
    name = SURNAMES[r.randrange(len(SURNAMES))] + "".join(
        GIVEN[r.randrange(len(GIVEN))] for _ in range(r.choice((1, 2)))
    )
    if style < 0.03:
        words = ""
        while len(words) < 30:
            words += r.choice(WORDS)
        return f"{r.choice(EMOJI)}{name}·{words}{r.choice(EMOJI)}{r.choice(EMOJI)}"
    if style < 0.20:
        return r.choice([f"{name}{r.choice(EMOJI)}", f"{r.choice(EMOJI)}{r.choice(WORDS)}"])
    if style < 0.35:
        return r.choice(WORDS)
    if style < 0.42:
        return f"{r.choice(LATIN)}{r.choice(['', '_', '.'])}{name}"
    return name


def profile(seed: str, index: int) -> dict:
    """Sex/province/city for OAuth userinfo, deterministic like the nickname."""
    r = _rng(seed + "#p", index)
    province, city = r.choice(PROVINCES)
    return {"sex": r.choice((0, 1, 2)), "province": province, "city": city, "country": "中国"}


@functools.lru_cache(maxsize=1)
def _font_path() -> str | None:
    """A CJK font found through fontconfig, so Chinese initials render."""
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", "Noto Sans CJK SC:style=Bold"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
        return out or None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=512)
def avatar_jpeg(seed: str, index: int, size: int = 132) -> bytes:
    """A real JPEG avatar: a coloured square with the nickname's first character."""
    from PIL import Image, ImageDraw, ImageFont

    r = _rng(seed + "#a", index)
    bg = (r.randrange(60, 220), r.randrange(60, 220), r.randrange(60, 220))
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    name = nickname(seed, index)
    ch = next((c for c in name if c.isalnum()), "微")
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont
    path = _font_path()
    try:
        font = ImageFont.truetype(path, int(size * 0.55)) if path else ImageFont.load_default()
    except OSError:
        font = ImageFont.load_default()
    box = draw.textbbox((0, 0), ch, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    draw.text(((size - w) / 2 - box[0], (size - h) / 2 - box[1]), ch, fill="white", font=font)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()
