/**
 * Whether an address may receive an API key: the same rule as the Python side's `checked_url`
 * (training/backends/hosted.py): https, or plain http only to this machine, and no credentials in the address.
 */
export function endpointProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return "Type an address such as https://NAME.openai.azure.com.";
  }
  if (url.username || url.password) {
    return "No user name or password in the address: the key goes in its own box.";
  }
  const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && local)) {
    return "Use https:// (plain http only to this machine), or the key would travel unencrypted.";
  }
  return undefined;
}
