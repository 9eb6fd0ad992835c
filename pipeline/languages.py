"""Language codes: the ISO 639 table pivotrec accepts, and the normaliser of declared codes.

A catalogue, a users file or a config may declare a language as ``ES``,
``es-MX``, ``es_ES``, ``spa``, ``spa_Latn`` or ``es``; all of them mean ``es``.
Codes are canonical ISO 639-1 (two letters) where one exists, otherwise the
ISO 639-3 code the language detectors emit (``yue``, ``ceb``, ...). Anything
else (``Spanish``, ``7``) is refused, with the code to use when the name is
a language's English name.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated

from pydantic import AfterValidator

from pivotrec.pipeline.errors import quoted

__all__ = ["LanguageCode", "language_name", "normalise_language"]

#: ISO 639-1 code, ISO 639-2/T code, ISO 639-2/B code (``-`` when the same), English name
#: (from Debian's iso-codes; ``sh`` is deprecated but detectors still emit it).
_ISO_639 = """\
aa aar - Afar
ab abk - Abkhazian
ae ave - Avestan
af afr - Afrikaans
ak aka - Akan
am amh - Amharic
an arg - Aragonese
ar ara - Arabic
as asm - Assamese
av ava - Avaric
ay aym - Aymara
az aze - Azerbaijani
ba bak - Bashkir
be bel - Belarusian
bg bul - Bulgarian
bh bih - Bihari languages
bi bis - Bislama
bm bam - Bambara
bn ben - Bengali
bo bod tib Tibetan
br bre - Breton
bs bos - Bosnian
ca cat - Catalan
ce che - Chechen
ch cha - Chamorro
co cos - Corsican
cr cre - Cree
cs ces cze Czech
cu chu - Church Slavic
cv chv - Chuvash
cy cym wel Welsh
da dan - Danish
de deu ger German
dv div - Divehi
dz dzo - Dzongkha
ee ewe - Ewe
el ell gre Greek, Modern (1453-)
en eng - English
eo epo - Esperanto
es spa - Spanish
et est - Estonian
eu eus baq Basque
fa fas per Persian
ff ful - Fulah
fi fin - Finnish
fj fij - Fijian
fo fao - Faroese
fr fra fre French
fy fry - Western Frisian
ga gle - Irish
gd gla - Gaelic
gl glg - Galician
gn grn - Guarani
gu guj - Gujarati
gv glv - Manx
ha hau - Hausa
he heb - Hebrew
hi hin - Hindi
ho hmo - Hiri Motu
hr hrv - Croatian
ht hat - Haitian
hu hun - Hungarian
hy hye arm Armenian
hz her - Herero
ia ina - Interlingua (International Auxiliary Language Association)
id ind - Indonesian
ie ile - Interlingue
ig ibo - Igbo
ii iii - Sichuan Yi
ik ipk - Inupiaq
io ido - Ido
is isl ice Icelandic
it ita - Italian
iu iku - Inuktitut
ja jpn - Japanese
jv jav - Javanese
ka kat geo Georgian
kg kon - Kongo
ki kik - Kikuyu
kj kua - Kuanyama
kk kaz - Kazakh
kl kal - Kalaallisut
km khm - Central Khmer
kn kan - Kannada
ko kor - Korean
kr kau - Kanuri
ks kas - Kashmiri
ku kur - Kurdish
kv kom - Komi
kw cor - Cornish
ky kir - Kirghiz
la lat - Latin
lb ltz - Luxembourgish
lg lug - Ganda
li lim - Limburgan
ln lin - Lingala
lo lao - Lao
lt lit - Lithuanian
lu lub - Luba-Katanga
lv lav - Latvian
mg mlg - Malagasy
mh mah - Marshallese
mi mri mao Maori
mk mkd mac Macedonian
ml mal - Malayalam
mn mon - Mongolian
mr mar - Marathi
ms msa may Malay
mt mlt - Maltese
my mya bur Burmese
na nau - Nauru
nb nob - Bokmål, Norwegian
nd nde - Ndebele, North
ne nep - Nepali
ng ndo - Ndonga
nl nld dut Dutch
nn nno - Norwegian Nynorsk
no nor - Norwegian
nr nbl - Ndebele, South
nv nav - Navajo
ny nya - Chichewa
oc oci - Occitan (post 1500)
oj oji - Ojibwa
om orm - Oromo
or ori - Oriya
os oss - Ossetian
pa pan - Panjabi
pi pli - Pali
pl pol - Polish
ps pus - Pushto
pt por - Portuguese
qu que - Quechua
rm roh - Romansh
rn run - Rundi
ro ron rum Romanian
ru rus - Russian
rw kin - Kinyarwanda
sa san - Sanskrit
sc srd - Sardinian
sd snd - Sindhi
se sme - Northern Sami
sg sag - Sango
sh hbs - Serbo-Croatian
si sin - Sinhala
sk slk slo Slovak
sl slv - Slovenian
sm smo - Samoan
sn sna - Shona
so som - Somali
sq sqi alb Albanian
sr srp - Serbian
ss ssw - Swati
st sot - Sotho, Southern
su sun - Sundanese
sv swe - Swedish
sw swa - Swahili
ta tam - Tamil
te tel - Telugu
tg tgk - Tajik
th tha - Thai
ti tir - Tigrinya
tk tuk - Turkmen
tl tgl - Tagalog
tn tsn - Tswana
to ton - Tonga (Tonga Islands)
tr tur - Turkish
ts tso - Tsonga
tt tat - Tatar
tw twi - Twi
ty tah - Tahitian
ug uig - Uighur
uk ukr - Ukrainian
ur urd - Urdu
uz uzb - Uzbek
ve ven - Venda
vi vie - Vietnamese
vo vol - Volapük
wa wln - Walloon
wo wol - Wolof
xh xho - Xhosa
yi yid - Yiddish
yo yor - Yoruba
za zha - Zhuang
zh zho chi Chinese
zu zul - Zulu
"""
#: Individual languages a two-letter macrolanguage code covers (SIB-200 and FLORES use them),
#: and withdrawn two-letter codes, with the code pivotrec uses for them.
_ALIASES = {
    "arb": "ar", "azj": "az", "cmn": "zh", "ekk": "et", "gaz": "om", "khk": "mn", "lvs": "lv", "npi": "ne",
    "ory": "or", "pbt": "ps", "pes": "fa", "plt": "mg", "quy": "qu", "swh": "sw", "uzn": "uz", "ydd": "yi",
    "zsm": "ms", "iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro",
}
#: Languages with no two-letter code that the detectors emit (fastText's lid.176), and ``und``.
_THREE_LETTER = {
    "als": "Alemannic", "arz": "Egyptian Arabic", "ast": "Asturian", "azb": "South Azerbaijani", "bar": "Bavarian",
    "bcl": "Central Bikol", "bpy": "Bishnupriya", "bxr": "Russia Buriat", "cbk": "Chavacano", "ceb": "Cebuano",
    "ckb": "Central Kurdish", "diq": "Dimli", "dsb": "Lower Sorbian", "dty": "Dotyali", "eml": "Emiliano-Romagnolo",
    "frr": "Northern Frisian", "gom": "Goan Konkani", "hif": "Fiji Hindi", "hsb": "Upper Sorbian", "ilo": "Iloko",
    "jbo": "Lojban", "krc": "Karachay-Balkar", "lez": "Lezghian", "lmo": "Lombard", "lrc": "Northern Luri",
    "mai": "Maithili", "mhr": "Eastern Mari", "min": "Minangkabau", "mrj": "Western Mari", "mwl": "Mirandese",
    "myv": "Erzya", "mzn": "Mazanderani", "nah": "Nahuatl", "nap": "Neapolitan", "nds": "Low German", "new": "Newari",
    "pam": "Pampanga", "pfl": "Pfaelzisch", "pms": "Piemontese", "pnb": "Western Panjabi", "rue": "Rusyn", "sah": "Yakut",
    "scn": "Sicilian", "sco": "Scots", "tyv": "Tuvinian", "vec": "Venetian", "vep": "Veps", "vls": "Vlaams",
    "war": "Waray", "wuu": "Wu Chinese", "xal": "Kalmyk", "xmf": "Mingrelian", "yue": "Yue Chinese",
    "und": "undetermined",
}


def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(any accepted code -> canonical code, canonical code -> English name)."""
    canonical: dict[str, str] = {code: code for code in _THREE_LETTER}
    names = dict(_THREE_LETTER)
    for line in _ISO_639.splitlines():
        two, terminological, bibliographic, name = line.split(" ", 3)
        names[two] = name
        for code in (two, terminological, bibliographic):
            if code != "-":
                canonical[code] = two
    canonical.update(_ALIASES)
    return canonical, names


_CANONICAL, _NAMES = _tables()
_BY_NAME = {name.lower(): code for code, name in _NAMES.items()}
#: The language subtag ends at the first region, script or variant subtag (``es-MX``, ``zho_Hans``).
_SUBTAG = re.compile(r"[-_]")


def normalise_language(code: str) -> str:
    """The canonical code of a declared language: ``ES``, ``es-MX``, ``spa`` -> ``es``.

    Raises ValueError naming the code, with the right one when ``code`` is
    (close to) a language's English name (``Spanish``, ``spanih`` -> ``es``).
    """
    primary = _SUBTAG.split(code.strip(), maxsplit=1)[0].lower()
    if primary in _CANONICAL:
        return _CANONICAL[primary]
    message = f"unknown language code {quoted(code)}: use an ISO 639-1 code such as 'en', 'es' or 'zh'"
    names = difflib.get_close_matches(code.strip().lower(), _BY_NAME, n=1, cutoff=0.8)
    if names:
        suggested = _BY_NAME[names[0]]
        message += f" ({suggested!r} is {_NAMES[suggested]})"
    raise ValueError(message)


def language_name(code: str) -> str:
    """The English name of a canonical code (``es`` -> ``Spanish``)."""
    return _NAMES.get(code, code)


#: A language code in a config, normalised on validation (``pivot: EN`` is ``en``).
LanguageCode = Annotated[str, AfterValidator(normalise_language)]
