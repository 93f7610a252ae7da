"""running/distributed"""
