/** The product's name and version: the version is package.json's, the one place it is written. */
import pkg from '../package.json' with { type: 'json' };

export const PRODUCT = 'cni-trace';
export const VERSION: string = pkg.version;
