#!/usr/bin/env python3
"""Writes the tiny English corpus of tandem (data/corpus/stories.txt): short stories produced by a
procedural grammar (characters with consistent names and pronouns, places, objects, dialogue,
counting). Every sentence comes from the templates below; the output is fixed by the seed.

Usage: tools/make_corpus.py [--stories N] [--seed S] [--out data/corpus/stories.txt]
The text and this script are dedicated to the public domain (CC0 1.0), see data/corpus/LICENSE.
"""
import argparse
import random

NAMES = {
    "she": ["Anna", "Mira", "Lena", "Rosa", "Ella", "Nora", "Ivy", "Maya", "Lucy", "Tess", "Greta", "Hana"],
    "he": ["Tom", "Ben", "Max", "Leo", "Sam", "Finn", "Otto", "Hugo", "Jack", "Emil", "Noah", "Theo"],
}
ANIMALS = ["cat", "dog", "fox", "rabbit", "bear", "owl", "mouse", "duck", "frog", "horse", "goat", "hedgehog"]
ADJ = ["little", "small", "happy", "brave", "curious", "kind", "clever", "shy", "quiet", "young", "old", "friendly"]
COLORS = ["red", "blue", "green", "yellow", "brown", "white", "black", "orange", "purple", "grey"]
PLACES = ["forest", "village", "garden", "meadow", "house by the river", "small farm", "big city", "valley",
          "hill", "cottage", "town near the sea", "old mill"]
SPOTS = ["the pond", "the market", "the bakery", "the library", "the old bridge", "the tall tree", "the beach",
         "the school", "the park", "the well", "the barn", "the lighthouse"]
OBJECTS = ["apple", "ball", "book", "kite", "hat", "shell", "stone", "flower", "cake", "box", "key", "lamp",
           "cup", "boat", "bell", "map"]
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy", "snowy", "bright"]
SEASONS = ["spring", "summer", "autumn", "winter"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FEELINGS = ["happy", "sad", "tired", "proud", "surprised", "excited", "worried", "calm", "hungry", "sleepy"]
ACTIVITIES = [("play", "played"), ("walk", "walked"), ("read", "read"), ("sing", "sang"), ("dance", "danced"),
              ("paint", "painted"), ("swim", "swam"), ("run", "ran"), ("cook", "cooked"), ("climb", "climbed")]
GREETINGS = ["Hello", "Good morning", "Hi", "Good day", "Hey"]
FOODS = ["soup", "bread", "berries", "honey", "carrots", "cheese", "pie", "nuts", "rice", "pancakes"]


def plural(noun):
    if noun.endswith(("s", "x", "sh", "ch")):
        return noun + "es"
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    return noun + "s"


def article(word):
    return "an" if word[0] in "aeiou" else "a"


class Character:
    def __init__(self, rng, taken):
        self.pron = rng.choice(["she", "he"])
        self.name = rng.choice([n for n in NAMES[self.pron] if n not in taken])
        self.animal = rng.choice(ANIMALS)
        self.adj = rng.choice(ADJ)
        self.obj = "her" if self.pron == "she" else "him"
        self.poss = "her" if self.pron == "she" else "his"

    @property
    def Pron(self):
        return self.pron.capitalize()

    @property
    def Poss(self):
        return self.poss.capitalize()


def count_sentence(rng, a, obj):
    n = rng.randint(2, 12)
    m = rng.randint(1, n)
    left = n - m
    things = plural(obj)
    s = f"There were {NUMBERS[n]} {things} in the box. {a.name} took {NUMBERS[m]} of them, so "
    s += f"{NUMBERS[left]} {things if left != 1 else obj} {'was' if left == 1 else 'were'} left."
    return s


def story(rng):
    a = Character(rng, set())
    b = Character(rng, {a.name})
    place = rng.choice(PLACES)
    spot = rng.choice(SPOTS)
    obj = rng.choice(OBJECTS)
    color = rng.choice(COLORS)
    act, act_past = rng.choice(ACTIVITIES)
    food = rng.choice(FOODS)
    feeling = rng.choice(FEELINGS)
    day = rng.choice(DAYS)
    out = []
    opening = rng.randrange(3)
    if opening == 0:
        out.append(f"Once upon a time, there was {article(a.adj)} {a.adj} {a.animal} named {a.name}.")
    elif opening == 1:
        out.append(f"{a.name} was {article(a.adj)} {a.adj} {a.animal} who lived in {article(place)} {place}.")
    else:
        out.append(f"It was a {rng.choice(WEATHER)} {day} in {rng.choice(SEASONS)}, and {a.name} the {a.animal} woke up early.")
    if opening != 1:
        out.append(f"{a.Pron} lived in {article(place)} {place} with {a.poss} family.")
    out.append(f"{a.Pron} had {article(color)} {color} {obj} that {a.pron} loved very much.")
    # Episodes, each a few sentences that belong together; a story tells two to four in this order.
    meet = [f"One day, {a.name} met {article(b.adj)} {b.adj} {b.animal} called {b.name} at {spot}.",
            f'"{rng.choice(GREETINGS)}, {b.name}!" said {a.name}. "Do you want to {act} with me?"',
            f'{b.name} smiled. "Yes, I would like that," {b.pron} said.',
            f"So {a.name} and {b.name} {act_past} together until the sun went down."]
    lost = [f"Then {a.name} saw that {a.poss} {obj} was gone.",
            f'"Where is my {obj}?" asked {a.name}. {a.Pron} looked under the table and behind the door.',
            f"{b.name} helped {a.obj} look for it, and they found the {obj} near {spot}."]
    routine = [f"Every morning, {a.name} went to {spot} to {act}.",
               f"{a.Pron} liked to {act} more than anything else."]
    counting = [count_sentence(rng, a, obj)]
    dinner = [f"For dinner, {a.poss} mother made {food}, and {a.name} ate all of it.",
              f"After dinner, {a.pron} felt {rng.choice(['full', 'warm', 'sleepy', 'happy'])}."]
    gift_obj = rng.choice(OBJECTS)
    gift = [f"{b.name} the {b.animal} gave {a.name} {article(gift_obj)} {gift_obj} as a gift.",
            f"{a.name} said thank you, and {b.name} felt {rng.choice(['proud', 'happy', 'shy'])}."]
    episodes = [routine, meet, lost, counting, dinner, gift]
    picks = [0, 1] + sorted(rng.sample(range(2, len(episodes)), rng.randint(1, 3)))
    for i in picks:
        if i == 0 and rng.random() < 0.4:
            continue
        out.extend(episodes[i])
    out.append(f"At the end of the day, {a.name} was {feeling}.")
    if rng.random() < 0.5:
        out.append(f"{a.Pron} went to bed and dreamed about {a.poss} {color} {obj}.")
    else:
        out.append(f"{a.Pron} knew that {b.name} would be {a.poss} friend forever.")
    return " ".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=600)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", default="data/corpus/stories.txt")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for _ in range(args.stories):
            f.write(story(rng) + "\n\n")


if __name__ == "__main__":
    main()
