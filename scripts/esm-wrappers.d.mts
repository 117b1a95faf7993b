/** The library entry points (as in tsup.config.ts). */
export declare const ENTRIES: string[];
/** Writes the ES module entry points into `dir`, which holds the CommonJS build. */
export declare function writeEsmWrappers(dir: string): void;
