/** Secrets the task registers with the agent (masked in the log), once each. */
import { host } from './host';

const registeredSecrets = new Set<string>();

/** Tells the agent to mask `value` in the log (once per value); children no longer see a variable that holds it. */
export function setSecret(value: string): void {
  if (!value || registeredSecrets.has(value)) return;
  registeredSecrets.add(value);
  host.setSecret(value);
}
