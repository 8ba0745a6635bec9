/** Types of scripts/prepare.mjs (plain JavaScript: npm runs it before anything is compiled). */
export declare function staleReason(root: string): string | undefined;
