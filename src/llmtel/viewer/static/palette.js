// Stable colours per service name (a small hue palette that reads on light and dark backgrounds).

// no purple (LLM calls) and no red (errors): those colours carry meaning of their own
const HUES = [211, 152, 32, 186, 96, 48, 196, 130];

function hash(text) {
  let value = 2166136261;
  for (let i = 0; i < text.length; i++) {
    value ^= text.charCodeAt(i);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
}

/** A CSS colour for `service`, the same on every page load. */
export function serviceColor(service) {
  const hue = HUES[hash(service || "") % HUES.length];
  return `hsl(${hue} 62% 52%)`;
}
