"""What gradient accumulation saves: XLA's memory analysis of one compiled train step.

    python -m experiments.throughput.accumulation_memory [--model cnn] [--batch 512]

Prints the step's temporary buffers (activations kept for the backward pass and the other
intermediates) and its arguments (the state and the resident data) for grad_accum = 1, 2, 4
and 8 on one device: the figures behind docs/performance.md's gradient accumulation entry.
"""
import argparse

from research import runtime


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='cnn')
  parser.add_argument('--data', default='fashion_mnist')
  parser.add_argument('--batch', type=int, default=512)
  parser.add_argument('--accums', default='1,2,4,8', help='the grad_accum values, commas')
  args = parser.parse_args()
  runtime.configure()
  from research.data import load_dataset
  from research.train import config as config_lib, loop, parallel
  for k in (int(k) for k in args.accums.split(',')):
    config = config_lib.replace(config_lib.TrainConfig(), model=args.model, data=args.data,
                                batch_size=args.batch, grad_accum=k)
    dataset = loop.prepare_data(config, load_dataset(config.data))
    backend, host_state = loop.build_backend(config, dataset, parallel.select_devices(1))
    inputs = loop.make_inputs(config, dataset, backend, False)
    compiled = backend.train_step.lower(backend.put(host_state), *inputs.train(0)).compile()
    memory = compiled.memory_analysis()
    print(f'{args.model}, batch {args.batch}, grad_accum={k}: temporaries '
          f'{memory.temp_size_in_bytes / 2**20:.1f} MiB, arguments '
          f'{memory.argument_size_in_bytes / 2**20:.1f} MiB', flush=True)


if __name__ == '__main__':
  main()
