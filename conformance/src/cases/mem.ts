import type { Case } from './types';

export const memCases: Case[] = [1, 7, 1025, 65537].map((words, i) => ({
  kernel: 'mem.copy',
  name: `words=${words}`,
  params: { words },
  inputs: { src: { gen: 'words' } },
  seed: 100 + i,
}));
