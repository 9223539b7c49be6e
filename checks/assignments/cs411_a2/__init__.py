"""CS411 A2: saliency maps on MobileNetV2 and counterfactual explanations on MNIST."""
