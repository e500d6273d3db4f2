"""Subsets and a validation split of a dataset, fixed: the same whatever the run's seed.

Applied in this order, each to what the one before left:
1. `classes`: keep these classes (train and test), relabelled 0, 1, ... in the order given;
2. `val_fraction`: hold out that fraction of each class's training examples as the
   validation split (stratified; regression targets count as one class); or, for k-fold
   cross-validation, `folds` and `fold`: each class's examples cut into `folds` parts, part
   `fold` the validation split;
3. `imbalance`: a long tail, class c keeping n_0 * imbalance^(-c / (C - 1)) training examples
   (at most all of its own), n_0 being class 0's (Cui et al. 2019's exponential profile; class 0
   the head, so its size over the last class's is the ratio);
4. `examples_per_class`: at most that many training examples of each class;
5. `train_examples`: that many training examples, stratified (each class in proportion).
Every choice takes a class's examples in one fixed shuffled order, so a smaller subset is part
of a larger one. The test split is never subsampled (only `classes` applies to it), and the
normalisation statistics stay those of the loaded training split, so a subset is normalised
as the full set is.
"""
import dataclasses

import numpy as np

from research.data.dataset import Dataset
from research.errors import UserError

_ORDER_SEED = 0x5EED  # the fixed shuffle every choice reads; independent of any run's seed


@dataclasses.dataclass(frozen=True)
class SplitConfig:
  val_fraction: float = 0.0      # training examples held out for validation; 0 = no split
  folds: int = 0                 # k-fold cross-validation: parts of the training split; 0 = off
  fold: int = 0                  # which part is the validation split (0 .. folds - 1)
  classes: tuple[int, ...] = ()  # keep these classes, relabelled 0.. in this order; () = all
  imbalance: float = 0.0         # long tail: class 0's size / the last class's (>= 1); 0 = none
  examples_per_class: int = 0    # training examples kept per class; 0 = all
  train_examples: int = 0        # training examples kept, stratified; 0 = all

  @property
  def changes_data(self) -> bool:
    return self != SplitConfig()


def _class_ids(labels: np.ndarray, num_classes: int) -> np.ndarray:
  return labels if num_classes else np.zeros(len(labels), np.int64)


def _by_class(labels: np.ndarray, num_classes: int, stage: int) -> list[np.ndarray]:
  """Each class's training indices in a fixed shuffled order (one order per stage)."""
  order = np.random.default_rng([_ORDER_SEED, stage]).permutation(len(labels))
  ids = _class_ids(labels, num_classes)[order]
  return [order[ids == c] for c in range(max(num_classes, 1))]


def _keep_train(dataset: Dataset, index: np.ndarray) -> Dataset:
  index = np.sort(index)
  return dataclasses.replace(dataset, train_images=dataset.train_images[index],
                             train_labels=dataset.train_labels[index])


def select_classes(dataset: Dataset, classes: tuple[int, ...]) -> Dataset:
  relabel = np.full(dataset.num_classes, -1)
  relabel[list(classes)] = np.arange(len(classes))
  keep = lambda labels: np.isin(labels, classes)
  tr, te = keep(dataset.train_labels), keep(dataset.test_labels)
  return dataclasses.replace(
      dataset, num_classes=len(classes),
      train_images=dataset.train_images[tr],
      train_labels=relabel[dataset.train_labels[tr]].astype(np.int32),
      test_images=dataset.test_images[te],
      test_labels=relabel[dataset.test_labels[te]].astype(np.int32))


def hold_out_validation(dataset: Dataset, fraction: float = 0.0, folds: int = 0,
                        fold: int = 0) -> Dataset:
  """round(fraction * n_c) of each class's training examples (at least one), or the fold-th of
  `folds` near-equal parts of them, become the validation split."""
  members = _by_class(dataset.train_labels, dataset.num_classes, stage=1)
  if folds:
    parts = [np.array_split(m, folds)[fold] for m in members]
  else:
    parts = [m[:max(1, round(fraction * len(m)))] if len(m) else m for m in members]
  emptied = [c for c, (m, part) in enumerate(zip(members, parts)) if len(part) == len(m) > 0]
  if emptied:
    asked = f'split.folds={folds}' if folds else f'split.val_fraction={fraction}'
    raise UserError(f'{asked} leaves class {emptied[0]} of {dataset.name} no training examples '
                    f'({len(members[emptied[0]])} in all): hold out less')
  held = np.concatenate(parts)
  rest = np.setdiff1d(np.arange(len(dataset.train_labels)), held)
  held = np.sort(held)
  return dataclasses.replace(
      _keep_train(dataset, rest),
      val_images=dataset.train_images[held], val_labels=dataset.train_labels[held])


def long_tail(dataset: Dataset, ratio: float) -> Dataset:
  members = _by_class(dataset.train_labels, dataset.num_classes, stage=2)
  head, last = len(members[0]), max(len(members) - 1, 1)
  sizes = [min(len(m), max(1, round(head * ratio ** (-c / last))))
           for c, m in enumerate(members)]
  return _keep_train(dataset, np.concatenate([m[:n] for m, n in zip(members, sizes)]))


def per_class(dataset: Dataset, count: int) -> Dataset:
  members = _by_class(dataset.train_labels, dataset.num_classes, stage=3)
  return _keep_train(dataset, np.concatenate([m[:count] for m in members]))


def stratified(dataset: Dataset, count: int) -> Dataset:
  """`count` training examples, each class contributing in proportion to its size (largest
  remainders take the examples left over)."""
  members = _by_class(dataset.train_labels, dataset.num_classes, stage=4)
  sizes = np.array([len(m) for m in members], np.float64)
  share = sizes * count / sizes.sum()
  take = np.floor(share).astype(int)
  take[np.argsort(take - share)[:count - take.sum()]] += 1
  return _keep_train(dataset, np.concatenate([m[:n] for m, n in zip(members, take)]))


def apply(dataset: Dataset, cfg: SplitConfig) -> Dataset:
  """The dataset `cfg` describes (the dataset itself when cfg asks for nothing)."""
  if cfg.classes:
    dataset = select_classes(dataset, cfg.classes)
  if cfg.val_fraction or cfg.folds:
    dataset = hold_out_validation(dataset, cfg.val_fraction, cfg.folds, cfg.fold)
  if cfg.imbalance:
    dataset = long_tail(dataset, cfg.imbalance)
  if cfg.examples_per_class:
    dataset = per_class(dataset, cfg.examples_per_class)
  if cfg.train_examples:
    dataset = stratified(dataset, cfg.train_examples)
  return dataset
