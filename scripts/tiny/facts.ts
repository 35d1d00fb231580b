/**
 * The world of the embedded tiny model: made-up countries, each with a capital, a language and a
 * flag colour, generated from a seed. From it come (1) a prose corpus that states every fact many
 * times in varied sentences (what the base model is pretrained on) and (2) chat data that asks about
 * the facts of some countries (what the demo fine-tunes on). The held-out questions are about the
 * other countries: facts the base has read in prose but was never asked about, so answering them
 * needs what pretraining stored plus the question-answering skill that fine-tuning teaches.
 */
import { Xoshiro128 } from '@kvant/formats';

export interface Country {
  readonly name: string;
  readonly capital: string;
  readonly language: string;
  readonly color: string;
}

export interface FactsWorld {
  readonly countries: readonly Country[];
  /** Countries whose facts are asked in the training chat data. */
  readonly train: readonly Country[];
  /** Countries asked about only in the held-out data. */
  readonly heldOut: readonly Country[];
}

export const WORLD_SEED = 20261201;
const COUNTRIES = 60;
const HELD_OUT = 15;
const COLORS = ['red', 'blue', 'green', 'yellow', 'white', 'black', 'orange', 'purple'];
const ONSETS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'gr', 'kr', 'tr', 'st', 'th', 'sh'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ei'];
const CODAS = ['', '', 'n', 'r', 'l', 's', 'm', 'th'];

function pick<T>(rng: Xoshiro128, xs: readonly T[]): T {
  return xs[rng.nextU32() % xs.length];
}

function word(rng: Xoshiro128, syllables: number, ending: string): string {
  let w = '';
  for (let i = 0; i < syllables; i++) w += pick(rng, ONSETS) + pick(rng, VOWELS) + (i === syllables - 1 ? '' : pick(rng, CODAS));
  w += ending;
  return w[0].toUpperCase() + w.slice(1);
}

/** Seeded Fisher-Yates. */
export function shuffled<T>(rng: Xoshiro128, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** The world for a seed (the shipped model and data use WORLD_SEED). */
export function factsWorld(seed = WORLD_SEED): FactsWorld {
  const rng = new Xoshiro128(seed);
  const used = new Set<string>();
  const fresh = (syllables: number, ending: string) => {
    for (;;) {
      const w = word(rng, syllables, ending);
      if (!used.has(w)) {
        used.add(w);
        return w;
      }
    }
  };
  const languages = Array.from({ length: 10 }, () => fresh(2, 'ish'));
  const countries: Country[] = [];
  for (let i = 0; i < COUNTRIES; i++) {
    countries.push({ name: fresh(2, pick(rng, ['ia', 'or', 'and', 'ar'])), capital: fresh(2, ''), language: pick(rng, languages), color: pick(rng, COLORS) });
  }
  const order = shuffled(rng, countries);
  return { countries, train: order.slice(HELD_OUT), heldOut: order.slice(0, HELD_OUT) };
}

/** The canonical sentence of each fact: what the chat answers say (and one of the prose variants). */
export function answers(c: Country): { capital: string; language: string; color: string } {
  return {
    capital: `The capital of ${c.name} is ${c.capital}.`,
    language: `People in ${c.name} speak ${c.language}.`,
    color: `The flag of ${c.name} is ${c.color}.`,
  };
}

/** One question per fact, with its answer. */
export function questions(c: Country): { question: string; answer: string }[] {
  const a = answers(c);
  return [
    { question: `What is the capital of ${c.name}?`, answer: a.capital },
    { question: `What language do people speak in ${c.name}?`, answer: a.language },
    { question: `What color is the flag of ${c.name}?`, answer: a.color },
  ];
}

const PROSE: Record<'capital' | 'language' | 'color', ((c: Country) => string)[]> = {
  capital: [
    (c) => answers(c).capital,
    (c) => `${c.capital} is the capital of ${c.name}.`,
    (c) => `${c.name} has its capital at ${c.capital}.`,
    (c) => `The largest city of ${c.name} is ${c.capital}, which is also its capital.`,
  ],
  language: [
    (c) => answers(c).language,
    (c) => `The language of ${c.name} is ${c.language}.`,
    (c) => `In ${c.name}, most people speak ${c.language}.`,
  ],
  color: [
    (c) => answers(c).color,
    (c) => `${c.name} has a ${c.color} flag.`,
    (c) => `The people of ${c.name} fly a ${c.color} flag.`,
  ],
};
const OPENINGS: ((c: Country) => string)[] = [(c) => `${c.name} is a country.`, (c) => `This is about ${c.name}.`, (c) => `Let us talk about ${c.name}.`, () => ''];

/** The pretraining corpus: `perCountry` short paragraphs about every country, in a seeded order. */
export function corpus(world: FactsWorld, perCountry = 24, seed = WORLD_SEED + 1): string[] {
  const rng = new Xoshiro128(seed);
  const paragraphs: string[] = [];
  for (const c of world.countries) {
    for (let k = 0; k < perCountry; k++) {
      const facts = shuffled(rng, ['capital', 'language', 'color'] as const).map((f) => pick(rng, PROSE[f])(c));
      paragraphs.push([pick(rng, OPENINGS)(c), ...facts].filter(Boolean).join(' '));
    }
  }
  return shuffled(rng, paragraphs);
}

/** Chat data in TRL's conversational prompt/completion format (completion-only loss by default). */
export function chatRecords(countries: readonly Country[]): { prompt: { role: string; content: string }[]; completion: { role: string; content: string }[] }[] {
  return countries.flatMap((c) =>
    questions(c).map(({ question, answer }) => ({ prompt: [{ role: 'user', content: question }], completion: [{ role: 'assistant', content: answer }] })),
  );
}
