/** The library's entry points and their sources (tsup.config.ts builds them). */
export declare const LIBRARY: Record<'index' | 'engine' | 'otel', string>;
/** Writes the ES module entry points into `dir`, which holds the CommonJS build. */
export declare function writeEsmWrappers(dir: string): void;
