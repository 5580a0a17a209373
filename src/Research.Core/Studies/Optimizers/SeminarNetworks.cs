using Research.Core.Models;
using TorchSharp;

namespace Research.Core.Studies.Optimizers;

/// <summary>The two networks of the optimization seminar's MNIST comparison.</summary>
public enum SeminarNetwork
{
    /// <summary>Linear(784, 64) → Linear(64, 10), no activation between them (as the seminar wrote it),
    /// then LogSoftmax with NLLLoss, which is cross-entropy on the logits.</summary>
    Mlp,

    /// <summary>Conv2d(1, 3, 3, padding 1) → ReLU → MaxPool2d(2) → flatten (3·14·14 = 588) → Linear(588, 10).</summary>
    Cnn,
}

/// <summary>Builds the seminar's networks with PyTorch's default initialisation (seed torch first).</summary>
public static class SeminarNetworks
{
    /// <summary>A fresh network; the MLP takes [N, 784], the CNN [N, 1, 28, 28]; both give logits [N, 10].</summary>
    public static Network Build(SeminarNetwork network)
    {
        Runtime.TorchNative.EnsureLoaded();
        return network switch
        {
            SeminarNetwork.Mlp => new Network("seminar-mlp", "MLP 784-64-10, no activation (LogSoftmax + NLL = " +
                "cross-entropy)")
                .Add("fc1", torch.nn.Linear(784, 64))
                .Add("fc2", torch.nn.Linear(64, 10)),
            SeminarNetwork.Cnn => new Network("seminar-cnn", "CNN conv(1→3, 3x3, pad 1)-ReLU-maxpool " +
                "2-flatten(588)-fc(10)")
                .Add("conv", torch.nn.Conv2d(1, 3, 3, padding: 1))
                .Add("act", torch.nn.ReLU())
                .Add("pool", torch.nn.MaxPool2d(2))
                .Add("flatten", torch.nn.Flatten())
                .Add("fc", torch.nn.Linear(588, 10)),
            _ => throw new ArgumentOutOfRangeException(nameof(network), network, "expected Mlp or Cnn."),
        };
    }

    /// <summary>True when the network takes flat [N, 784] inputs.</summary>
    public static bool TakesFlatInput(SeminarNetwork network) => network == SeminarNetwork.Mlp;
}
