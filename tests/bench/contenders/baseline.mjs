// Not a contender: the work every contender shares (making each event and JSON.stringify), so
// the tables can show what each one adds on top.
export const name = 'baseline';

export async function run({ gen, count }) {
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += JSON.stringify(gen.make(i)).length;
  if (bytes !== count * gen.bytes) throw new Error('baseline: unexpected event size');
  return { requests: 0 };
}
