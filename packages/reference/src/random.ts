/** The seeded generators live in @kvant/abi (the bottom layer, so every package can use them); re-exported here for tests and cases. */
export { randn, randomBytes, rng } from '@kvant/abi';
