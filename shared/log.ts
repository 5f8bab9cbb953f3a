/** Where the core reports progress: the agent adapter prints it, tests collect it. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  /** Folds the lines logged until `endGroup` (the agent's ##[group]); optional. */
  group?(title: string): void;
  endGroup?(): void;
}
