/** Secrets the task registers with the agent (masked in the log), once each. */
import { host } from './host';

/** Tells the agent to mask `value` in the log (once per value); children no longer see a variable that holds it. */
export function setSecret(value: string): void {
  const registered = host.once('registeredSecrets', () => new Set<string>());
  if (!value || registered.has(value)) return;
  registered.add(value);
  host.setSecret(value);
}
