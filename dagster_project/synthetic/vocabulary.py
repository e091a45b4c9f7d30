"""Word lists the generator draws names, places and comments from.

Kept apart from the logic so the lists can grow without touching how they are used. Every list
is a tuple: its order is part of the output, and a tuple cannot be reordered by accident.
"""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "anna",
    "james",
    "maria",
    "david",
    "sofia",
    "michael",
    "emma",
    "daniel",
    "olivia",
    "lucas",
    "mia",
    "noah",
    "chloe",
    "liam",
    "grace",
    "ethan",
    "zoe",
    "oliver",
    "lena",
    "samuel",
    "hannah",
    "benjamin",
    "clara",
    "jacob",
    "ella",
    "henry",
    "isabel",
    "leo",
    "nora",
    "adam",
    "julia",
    "thomas",
    "laura",
    "felix",
    "amelia",
    "oscar",
    "ruby",
    "marco",
    "elena",
    "victor",
    "alice",
    "hugo",
    "ines",
    "paul",
    "sara",
    "jonas",
    "lucy",
    "max",
    "eva",
    "rafael",
    "priya",
    "arjun",
    "mei",
    "kenji",
    "fatima",
    "omar",
    "aisha",
    "yusuf",
    "chen",
    "wei",
    "carlos",
    "lucia",
    "mateo",
    "valentina",
    "nina",
    "erik",
    "freya",
    "lars",
    "ingrid",
    "tom",
)

LAST_NAMES: tuple[str, ...] = (
    "smith",
    "johnson",
    "keller",
    "garcia",
    "miller",
    "davis",
    "martin",
    "brown",
    "wilson",
    "moore",
    "taylor",
    "anderson",
    "thomas",
    "jackson",
    "white",
    "harris",
    "clark",
    "lewis",
    "walker",
    "hall",
    "young",
    "king",
    "wright",
    "lopez",
    "hill",
    "scott",
    "green",
    "adams",
    "baker",
    "nelson",
    "carter",
    "mitchell",
    "perez",
    "roberts",
    "turner",
    "phillips",
    "campbell",
    "parker",
    "evans",
    "edwards",
    "collins",
    "stewart",
    "morris",
    "rogers",
    "reed",
    "cook",
    "morgan",
    "bell",
    "murphy",
    "bailey",
    "schmidt",
    "muller",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "hoffmann",
    "dubois",
    "moreau",
    "laurent",
    "bernard",
    "jansen",
    "devries",
    "bakker",
    "visser",
    "patel",
    "singh",
    "tanaka",
    "nguyen",
)

COMPANY_WORDS: tuple[str, ...] = (
    "logistics",
    "studio",
    "media",
    "consulting",
    "labs",
    "systems",
    "design",
    "foods",
    "works",
    "partners",
    "digital",
    "health",
    "supply",
    "architects",
    "ventures",
    "solutions",
    "events",
    "photography",
    "electric",
    "dental",
)

COMPANY_SUFFIXES: tuple[str, ...] = ("LLC", "Inc", "Ltd", "GmbH", "Co", "Group", "BV", "SA")

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "icloud.com",
    "hotmail.com",
    "proton.me",
    "gmx.net",
)

# Local parts a shared company inbox uses: the same address then sits on two customer records.
SHARED_INBOX_NAMES: tuple[str, ...] = ("orders", "purchasing", "accounts", "info", "office")

# Country code, share of customers, phone country prefix, cities.
COUNTRIES: tuple[tuple[str, float, str, tuple[str, ...]], ...] = (
    ("US", 0.62, "1", ("New York", "Los Angeles", "Chicago", "Houston", "Seattle", "Austin", "Denver", "Boston")),
    ("CA", 0.10, "1", ("Toronto", "Vancouver", "Montreal", "Calgary", "Ottawa")),
    ("GB", 0.10, "44", ("London", "Manchester", "Bristol", "Leeds", "Edinburgh")),
    ("DE", 0.06, "49", ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt")),
    ("FR", 0.05, "33", ("Paris", "Lyon", "Marseille", "Toulouse", "Lille")),
    ("NL", 0.04, "31", ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven")),
    ("AU", 0.03, "61", ("Sydney", "Melbourne", "Brisbane", "Perth")),
)

LEAD_SOURCES: tuple[str, ...] = ("web_form", "event", "referral", "webinar", "trade_show", "partner")

# Brands per product category; the names are made up so nothing reads as an endorsement.
BRANDS: dict[str, tuple[str, ...]] = {
    "cameras": ("Lumera", "Optiva", "Kameo", "Fotonix"),
    "lenses": ("Optiva", "Sigmar", "Glasswerk", "Kameo"),
    "laptops": ("Novabook", "Tessera", "Arcline", "Pixelon"),
    "computer_accessories": ("Keyforge", "Arcline", "Portly", "Deskmate"),
    "phones": ("Pixelon", "Orbit", "Nimbus", "Tessera"),
    "phone_accessories": ("Shieldy", "Portly", "Chargeon", "Orbit"),
    "audio": ("Sonora", "Bassline", "Echoic", "Nimbus"),
    "smart_home": ("Homely", "Brightnest", "Sensa", "Orbit"),
}

PRODUCT_NOUNS: dict[str, tuple[str, ...]] = {
    "cameras": ("Mirrorless Camera", "Compact Camera", "Action Camera", "DSLR Body", "Vlog Camera"),
    "lenses": ("50mm Prime Lens", "24-70mm Zoom Lens", "70-200mm Telephoto Lens", "Macro Lens", "Wide Angle Lens"),
    "laptops": ("Ultrabook 13", "Laptop 15", "Workstation 16", "Chromebook 14", "Gaming Laptop 17"),
    "computer_accessories": (
        "Wireless Mouse",
        "Mechanical Keyboard",
        "USB-C Dock",
        "27in Monitor",
        "Laptop Stand",
        "Webcam",
    ),
    "phones": ("Smartphone", "Smartphone Pro", "Smartphone Mini", "Rugged Phone"),
    "phone_accessories": ("Phone Case", "Screen Protector", "Fast Charger", "Power Bank", "Car Mount", "USB-C Cable"),
    "audio": ("Wireless Earbuds", "Over-Ear Headphones", "Bluetooth Speaker", "Soundbar", "Studio Microphone"),
    "smart_home": ("Smart Plug", "Smart Bulb", "Video Doorbell", "Thermostat", "Indoor Camera", "Smart Speaker"),
}

MODEL_SUFFIXES: tuple[str, ...] = (
    "",
    " II",
    " III",
    " S",
    " X",
    " Pro",
    " Lite",
    " Max",
    " 2",
    " Plus",
    " Air",
    " Neo",
)

TICKET_TOPICS: tuple[str, ...] = ("delivery", "billing", "product_quality", "service", "returns")

# Survey comments per ticket topic and sentiment. They deliberately contain commas and quotes:
# the CSV writer must quote them and the ingestion must read them back intact.
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "delivery": {
        "negative": (
            "The parcel arrived two weeks late, and nobody told me why.",
            'Tracking said "delivered" but the box was never at my door.',
            "Package was damaged, the corner was crushed and the item scratched.",
            "Third time a delivery is late, I am done waiting.",
        ),
        "neutral": (
            "Delivery took a bit longer than promised, but it arrived.",
            "The courier was fine, the tracking page less so.",
            "Arrived on the last day of the window, no complaints otherwise.",
        ),
        "positive": (
            "Arrived a day early, well packed. Great!",
            'Super fast delivery, the "next day" option really works.',
            "Courier was friendly and the package was in perfect shape.",
        ),
    },
    "billing": {
        "negative": (
            "I was charged twice, and the refund still has not appeared.",
            'The invoice shows a "service fee" nobody mentioned.',
            "Billing is a mess, three emails and still a wrong amount.",
        ),
        "neutral": (
            "The charge was corrected, though it took a few days.",
            "Invoice was fixed, the process could be simpler.",
            "Got my refund eventually, okay.",
        ),
        "positive": (
            "The billing error was fixed in minutes, thank you!",
            "Refund arrived the same day, very smooth.",
            'Clear answer about the invoice, "no worries" indeed.',
        ),
    },
    "product_quality": {
        "negative": (
            "Stopped working after a week, cheap build quality.",
            'Not as described, the "premium" finish is plastic.',
            "Battery dies in an hour, very disappointed.",
            "Second unit with the same defect, I want my money back.",
        ),
        "neutral": (
            "Product is okay, a bit flimsy for the price.",
            "Works, but the setup instructions were confusing.",
            "Average quality, does the job.",
        ),
        "positive": (
            "Excellent quality, better than I expected!",
            'Solid build, the "pro" version is worth it.',
            "Works perfectly, very happy with the purchase.",
        ),
    },
    "service": {
        "negative": (
            "Waited days for an answer, and the answer was useless.",
            'Agent just copied a "help article" and closed the ticket.',
            "Nobody called back, terrible support.",
            "I had to explain the problem four times, never again.",
        ),
        "neutral": (
            "Support solved it, though it took a while.",
            "The agent was polite, the fix was partial.",
            "Answer came the next day, fine.",
        ),
        "positive": (
            "Quick, friendly and competent support, thanks!",
            'The agent went "above and beyond", problem solved in one call.',
            "Great service, solved on the first reply.",
        ),
    },
    "returns": {
        "negative": (
            "The return label never came, and the window is closing.",
            'Return was "received" a month ago, still no refund.',
            "Returning an item should not take six emails.",
        ),
        "neutral": (
            "Return worked, refund took about two weeks.",
            "Label arrived after a reminder, then it was fine.",
            "Exchange done, a bit slow.",
        ),
        "positive": (
            "Easy return, refund in three days. Great!",
            "Prepaid label, drop-off, done, very simple.",
            'Hassle-free exchange, "no questions asked" really meant it.',
        ),
    },
}

COMMENT_ENDINGS: dict[str, tuple[str, ...]] = {
    "negative": ("", "", " Very disappointed.", " Considering other shops.", " Not happy, at all."),
    "neutral": ("", "", " It is what it is.", " Could be better."),
    "positive": ("", "", " Thanks!", " Will buy again.", " Keep it up, team."),
}
