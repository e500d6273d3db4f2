"""A linear probe: how much of a classification a set of features makes linearly readable.
Shared by the experiments that probe features (transfer's layers, autoencoders' codes)."""


def accuracy(train_x, train_y, test_x, test_y, max_iter: int) -> float:
  """Test accuracy of standardised logistic regression (scikit-learn) fitted on train_x."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
  fitted.fit(train_x, train_y)
  return float(fitted.score(test_x, test_y))
