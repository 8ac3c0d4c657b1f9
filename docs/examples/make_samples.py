"""Writes the worked example's two files (docs/examples/): a made-up consumer company's CRM
export of prospects and their activities. Run again to regenerate them; the seed is fixed.

    .venv/bin/python docs/examples/make_samples.py
"""

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(15)

SOURCES = {  # raw lead source -> how likely such a prospect converts
    "Chat Widget": 0.55,
    "Organic Search": 0.38,
    "Referral Programme": 0.8,
    "Partner Website": 0.3,
    "Google Ads": 0.35,
    "Facebook": 0.2,
    "Direct Traffic": 0.33,
    "Newsletter": 0.25,
    "Welingak Site": 0.92,
    "Reactivation Mail": 0.15,
}
COUNTRIES = ["India"] * 12 + [
    "United Arab Emirates",
    "United States",
    "Singapore",
    "Saudi Arabia",
    "Australia",
    "UK",
    "Select",
    "",
]
CITIES = ["Mumbai", "Pune", "Bengaluru", "Delhi", "Thane", "Dubai", "Singapore", "Select"]
OCCUPATIONS = ["Unemployed"] * 6 + ["Working Professional"] * 2 + ["Student", "Businessman", "Select", "Select", ""]
FIRST = ["Asha", "Ravi", "Meera", "Karan", "Priya", "Vikram", "Neha", "Arjun", "Sara", "Omar", "Lena", "Tom"]
LAST = ["Rao", "Shah", "Iyer", "Khan", "Das", "Patel", "Nair", "Mehta", "Gill", "Fischer", "Brown", "Sato"]


def main():
    start = datetime(2026, 6, 1, 9, 0)
    prospects, activities = [], []
    for n in range(300):
        pid = f"P-{40120 + n * 7}"
        source = rng.choice(list(SOURCES))
        occupation = rng.choice(OCCUPATIONS)
        visits = rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 8, 11, 15])
        minutes = round(visits * rng.uniform(0.5, 6.0), 1)
        chance = SOURCES[source] + (0.2 if minutes > 10 else -0.1) + (0.25 if occupation == "Working Professional" else 0)
        converted = 1 if rng.random() < min(0.95, max(0.03, chance)) else 0
        created = start + timedelta(hours=rng.randrange(0, 24 * 90))
        prospects.append(
            {
                "Prospect ID": pid,
                "First Name": rng.choice(FIRST),
                "Last Name": rng.choice(LAST) + ("-" + "x" * 120 if n == 17 else ""),  # one over-long name
                "Lead Source": source,
                "Country": rng.choice(COUNTRIES),
                "City": rng.choice(CITIES),
                "Occupation": occupation,
                "Do Not Email": "Yes" if rng.random() < 0.08 else "No",
                "Total Visits": visits,
                "Time On Site (min)": minutes,
                "Converted": converted,
                "Converted On": (created + timedelta(days=rng.randrange(3, 40))).date().isoformat() if converted else "",
            }
        )
        for v in range(visits):
            at = created + timedelta(hours=v * rng.randrange(2, 30))
            activities.append(
                {
                    "Prospect ID": pid,
                    "Activity": rng.choice(
                        ["Page Visited on Website", "Page Visited on Website", "Email Opened", "Olark Chat Conversation"]
                    ),
                    "Activity Date": at.strftime("%Y-%m-%d %H:%M"),
                    "Minutes": round(minutes / max(visits, 1), 1),
                    "Activity ID": f"A-{pid[2:]}-{v}",
                }
            )
        if rng.random() < 0.3:
            activities.append(
                {
                    "Prospect ID": pid,
                    "Activity": "SMS Sent",
                    "Activity Date": (created + timedelta(days=1)).strftime("%Y-%m-%d %H:%M"),
                    "Minutes": "",
                    "Activity ID": f"S-{pid[2:]}",
                }
            )
    for name, rows in (("prospects.csv", prospects), ("prospect-activities.csv", activities)):
        with (HERE / name).open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
