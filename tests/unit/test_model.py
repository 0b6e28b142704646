import torch
import torch.nn.functional as F

from lab1.run.model import Net, count_parameters


def test_reference_parameter_count_and_shapes():
    model = Net()
    assert count_parameters(model) == 1_199_882
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    # log_softmax: each row's probabilities sum to one.
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
